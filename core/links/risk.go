package links

import "fmt"

// Risk is how dangerous a link looks, from RiskNone to RiskHigh. Risks are
// ordered: a larger value is a higher risk.
type Risk int

// The risk levels.
const (
	RiskNone Risk = iota
	RiskLow
	RiskMedium
	RiskHigh
)

var riskNames = [...]string{"none", "low", "medium", "high"}

// String returns "none", "low", "medium" or "high".
func (r Risk) String() string {
	if r < RiskNone || r > RiskHigh {
		return fmt.Sprintf("Risk(%d)", int(r))
	}
	return riskNames[r]
}

// Valid reports whether r is one of the four levels.
func (r Risk) Valid() bool { return r >= RiskNone && r <= RiskHigh }

// MarshalText encodes the risk as its name, so JSON shows "high".
func (r Risk) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("links: invalid risk %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText decodes a risk name.
func (r *Risk) UnmarshalText(b []byte) error {
	for i, n := range riskNames {
		if string(b) == n {
			*r = Risk(i)
			return nil
		}
	}
	return fmt.Errorf("links: unknown risk %q", b)
}

// Code is a stable, machine-readable reason code. Codes never change
// meaning; new ones may be added.
type Code string

// The reason codes Analyze gives.
const (
	CodeUserinfo        Code = "userinfo"
	CodeIPHost          Code = "ip-host"
	CodeNumericHost     Code = "numeric-host"
	CodeInsecureScheme  Code = "insecure-scheme"
	CodePunycode        Code = "punycode"
	CodeMixedScript     Code = "mixed-script"
	CodeConfusable      Code = "confusable"
	CodeLookalike       Code = "lookalike"
	CodeTargetEmbedding Code = "target-embedding"
	CodeShortener       Code = "shortener"
	CodeBidi            Code = "bidi"
	CodeLookalikeSlash  Code = "lookalike-slash"
	CodeTextMismatch    Code = "text-mismatch"
	CodeNonStandardPort Code = "non-standard-port"
	CodeExcessiveLength Code = "excessive-length"
	CodeMalformed       Code = "malformed"
)

// codeRisk is the default risk of each code, and codeOrder the order in
// which reasons of equal risk are listed.
var codeRisk = map[Code]Risk{
	CodeUserinfo:        RiskHigh,
	CodeNumericHost:     RiskHigh,
	CodeConfusable:      RiskHigh,
	CodeMixedScript:     RiskHigh,
	CodeLookalike:       RiskHigh,
	CodeTargetEmbedding: RiskHigh,
	CodeTextMismatch:    RiskHigh,
	CodeBidi:            RiskHigh,
	CodeLookalikeSlash:  RiskHigh,
	CodeMalformed:       RiskHigh,
	CodeIPHost:          RiskMedium,
	CodePunycode:        RiskMedium,
	CodeShortener:       RiskLow,
	CodeInsecureScheme:  RiskLow,
	CodeNonStandardPort: RiskLow,
	CodeExcessiveLength: RiskLow,
}

var codeOrder = map[Code]int{
	CodeMalformed: 0, CodeBidi: 1, CodeLookalikeSlash: 2, CodeUserinfo: 3,
	CodeTextMismatch: 4, CodeConfusable: 5, CodeMixedScript: 6, CodeLookalike: 7,
	CodeTargetEmbedding: 8, CodeNumericHost: 9, CodeIPHost: 10, CodePunycode: 11,
	CodeShortener: 12, CodeInsecureScheme: 13, CodeNonStandardPort: 14, CodeExcessiveLength: 15,
}

// Codes returns every code Analyze can give, in listing order.
func Codes() []Code {
	out := make([]Code, len(codeOrder))
	for c, i := range codeOrder {
		out[i] = c
	}
	return out
}

// DefaultRisk returns the risk a reason with code c carries.
func DefaultRisk(c Code) Risk { return codeRisk[c] }

// Reason is one finding: a stable code and a sentence for the user.
type Reason struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Risk returns the reason's risk.
func (r Reason) Risk() Risk { return codeRisk[r.Code] }
