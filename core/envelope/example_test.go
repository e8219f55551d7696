package envelope_test

import (
	"fmt"
	"log"

	"github.com/ephemera-im/ephemera/core/envelope"
)

func Example() {
	// The recipient's key pair; in Ephemera it belongs to their identity.
	priv, err := envelope.KEM().GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	env, err := envelope.Seal(priv.PublicKey(), []byte("a ratchet message"))
	if err != nil {
		log.Fatal(err)
	}
	payload, err := envelope.Open(priv, env)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(env), string(payload))
	// Output: 1393 a ratchet message
}
