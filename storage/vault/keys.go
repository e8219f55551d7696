package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// keys are the secrets of an unlocked vault. Each is derived from the
// master key with HKDF-SHA-256 under its own label, so the sealing key
// and the record-id key are independent.
//
// AEAD and HMAC instances live at most for one transaction (Tx) instead
// of as long as the vault, because both copy the key into state this
// package cannot wipe; wipe zeroes every slice held here. What the Go runtime copied (stack growth,
// garbage not yet reused) is beyond a library's reach.
type keys struct {
	master []byte
	seal   []byte // XChaCha20-Poly1305 key for records
	id     []byte // HMAC-SHA-256 key for record keys
	// outer, once the vault was re-keyed (Rekey), is the AES-256 key of
	// a permutation over every 16-byte record key: the bbolt key is
	// AES(outer, HMAC-derived key). id then is the one the vault was
	// created with, kept in the sealed meta record metaRekeyed, so
	// record keys can be moved to a new outer key without knowing the
	// ids they were derived from. nil: no permutation.
	outer []byte
	block cipher.Block // of outer
}

const (
	labelSeal = "ephemera vault v1 record seal"
	labelID   = "ephemera vault v1 record id"
)

func newKeys(master []byte) (*keys, error) {
	k := &keys{master: master}
	var err error
	if k.seal, err = hkdf.Key(sha256.New, master, nil, labelSeal, keySize); err != nil {
		return nil, err
	}
	if k.id, err = hkdf.Key(sha256.New, master, nil, labelID, keySize); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keys) wipe() {
	clear(k.master)
	clear(k.seal)
	clear(k.id)
	clear(k.outer)
	k.block = nil
}

// setOuter installs the record-key permutation (see keys.outer).
func (k *keys) setOuter(id, outer []byte) error {
	b, err := aes.NewCipher(outer)
	if err != nil {
		return err
	}
	clear(k.id)
	k.id, k.outer, k.block = id, outer, b
	return nil
}

// permute applies the record-key permutation to the recordKeySize
// bytes at the end of dst, in place, and returns dst.
func (k *keys) permute(dst []byte) []byte {
	if k.block != nil {
		tail := dst[len(dst)-recordKeySize:]
		k.block.Encrypt(tail, tail)
	}
	return dst
}

// recordKeySize is the length of bbolt keys: 128 bits of HMAC-SHA-256,
// far past collisions for any vault's number of records.
const recordKeySize = 16

// recordType separates the kinds of record inside the keyed hash, so a
// contact and a setting with the same name get unrelated keys.
type recordType byte

const (
	tCheck recordType = iota + 1
	tProfile
	tSetting
	tIdentity
	tContact
	tContactIndex
	tSession
	tConversation
	tMessage
	tExpiry
	tOutboxHead
	tOutbox
	tAttachment
	tPage
	tAttachCount // how many attachment records there are (reconcile)
	tKeySlots    // how many slots vault.keys had at a commit (reconcile)
)

// tConversationKey is not a record type: it separates the derivation of
// a conversation's message-key cipher from the record keys.
const tConversationKey recordType = 0x80

// conversationKeyWith derives the AES-256 key of a conversation's page
// keys (and of schema version 3's message keys), appending it to dst:
// the full HMAC-SHA-256, with m an HMAC under the id key, of
// (tConversationKey, conversation), so conversations get independent
// keys and the id key is never used with AES.
func conversationKeyWith(m hash.Hash, dst []byte, conversation string) []byte {
	m.Reset()
	var b [5]byte
	b[0] = byte(tConversationKey)
	binary.BigEndian.PutUint32(b[1:], uint32(len(conversation)))
	m.Write(b[:])
	m.Write([]byte(conversation))
	return m.Sum(dst)
}

// msgKeyWith appends the record key of page n of a conversation (typ
// tPage), or of message n (tMessage, schema version 3): AES(conversation
// key, typ || 7 zero bytes || n). A block cipher is a pseudorandom
// permutation: the keys look random, reveal neither the conversation nor
// n, and never collide within a conversation; across conversations
// (independent keys) a collision of 128-bit values is as unlikely as with
// the truncated HMAC.
func msgKeyWith(b cipher.Block, dst []byte, typ recordType, n uint64) []byte {
	var in [aes.BlockSize]byte
	in[0] = byte(typ)
	binary.BigEndian.PutUint64(in[8:], n)
	dst = append(dst, in[:]...)
	b.Encrypt(dst[len(dst)-aes.BlockSize:], in[:])
	return dst
}

// recordKey is HMAC-SHA-256(id key, type || len(id) || id || seq),
// truncated: it reveals neither the id nor the sequence number, so
// neither which conversation a message belongs to nor its position.
func (k *keys) recordKey(t recordType, id string, seq uint64) []byte {
	return k.permute(recordKeyWith(hmac.New(sha256.New, k.id), nil, t, id, seq))
}

// recordKeyWith computes a record key with m, an HMAC under the id key,
// appending it to dst.
func recordKeyWith(m hash.Hash, dst []byte, t recordType, id string, seq uint64) []byte {
	m.Reset()
	var b [1 + 4 + 8]byte
	b[0] = byte(t)
	binary.BigEndian.PutUint32(b[1:], uint32(len(id)))
	m.Write(b[:5])
	m.Write([]byte(id))
	binary.BigEndian.PutUint64(b[5:], seq)
	m.Write(b[5:])
	var sum [sha256.Size]byte
	return append(dst, m.Sum(sum[:0])[:recordKeySize]...)
}

// Sealed record values are: version 1 || 24-byte nonce || ciphertext.
// The associated data binds the value to its bucket and key, so a value
// moved to another key or bucket fails to open.
const (
	recordVersion  = 1
	recordOverhead = 1 + nonceSize + chacha20poly1305.Overhead
	adLabel        = "ephemera vault v1 record\x00"
)

func recordAD(bucket, key []byte) []byte {
	return appendRecordAD(make([]byte, 0, len(adLabel)+len(bucket)+1+len(key)), bucket, key)
}

func appendRecordAD(ad, bucket, key []byte) []byte {
	ad = append(ad, adLabel...)
	ad = append(ad, bucket...)
	ad = append(ad, 0)
	return append(ad, key...)
}

// sealRecord seals plaintext for bucket/key.
func sealRecord(sealKey, bucket, key, plaintext []byte) []byte {
	aead, err := chacha20poly1305.NewX(sealKey)
	if err != nil {
		panic(err) // the key is always keySize bytes
	}
	return sealRecordWith(aead, bucket, key, plaintext)
}

func sealRecordWith(aead cipher.AEAD, bucket, key, plaintext []byte) []byte {
	out := make([]byte, 1+nonceSize, recordOverhead+len(plaintext))
	out[0] = recordVersion
	if _, err := rand.Read(out[1:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return aead.Seal(out, out[1:], plaintext, recordAD(bucket, key))
}

// openRecord opens a value sealed by sealRecord. Any damage is
// ErrCorrupt.
func openRecord(sealKey, bucket, key, sealed []byte) ([]byte, error) {
	if len(sealed) < recordOverhead {
		return nil, fmt.Errorf("%w: sealed record of %d bytes", ErrCorrupt, len(sealed))
	}
	if sealed[0] != recordVersion {
		return nil, fmt.Errorf("%w: sealed record version %d", ErrCorrupt, sealed[0])
	}
	aead, err := chacha20poly1305.NewX(sealKey)
	if err != nil {
		return nil, err
	}
	return openRecordWith(aead, bucket, key, sealed)
}

func openRecordWith(aead cipher.AEAD, bucket, key, sealed []byte) ([]byte, error) {
	if len(sealed) < recordOverhead {
		return nil, fmt.Errorf("%w: sealed record of %d bytes", ErrCorrupt, len(sealed))
	}
	if sealed[0] != recordVersion {
		return nil, fmt.Errorf("%w: sealed record version %d", ErrCorrupt, sealed[0])
	}
	pt, err := aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], recordAD(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed record fails to open", ErrCorrupt)
	}
	return pt, nil
}
