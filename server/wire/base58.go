package wire

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// base58Alphabet is the bitcoin base58 alphabet, the one bs58 (and so
// bs58check and automerge-repo) uses: no 0, O, I or l.
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Index maps an input byte to its digit value, or -1.
var base58Index = func() (idx [256]int8) {
	for i := range idx {
		idx[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		idx[base58Alphabet[i]] = int8(i)
	}
	return idx
}()

// base58Encode encodes b the way base-x does: one '1' per leading zero byte,
// then the big-endian base58 digits of the rest. It is quadratic in len(b);
// callers pass short inputs.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37, so len*137/100+1 digits always suffice.
	digits := make([]byte, 0, len(b)*137/100+1)
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros+len(digits))
	for i := 0; i < zeros; i++ {
		out[i] = base58Alphabet[0]
	}
	for i, d := range digits {
		out[len(out)-1-i] = base58Alphabet[d]
	}
	return string(out)
}

// errBase58Char reports a byte outside the base58 alphabet.
type errBase58Char struct {
	c   byte
	pos int
}

func (e errBase58Char) Error() string {
	return fmt.Sprintf("invalid base58 character %q at offset %d", e.c, e.pos)
}

// base58Decode is the inverse of base58Encode. It is quadratic in len(s);
// callers bound len(s) first.
func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == base58Alphabet[0] {
		zeros++
	}
	// log(58)/log(256) < 0.733, so len*733/1000+1 bytes always suffice.
	num := make([]byte, 0, len(s)*733/1000+1) // little-endian
	for i := zeros; i < len(s); i++ {
		d := base58Index[s[i]]
		if d < 0 {
			return nil, errBase58Char{s[i], i}
		}
		carry := int(d)
		for j := range num {
			carry += int(num[j]) * 58
			num[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			num = append(num, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros+len(num))
	for i, b := range num {
		out[len(out)-1-i] = b
	}
	return out, nil
}

// errChecksum reports a base58check checksum mismatch.
var errChecksum = errors.New("bad checksum")

// errCheckTooShort reports base58check input with no room for a checksum.
var errCheckTooShort = errors.New("too short for a checksum")

// base58CheckEncode is bs58check.encode: base58(payload ||
// sha256(sha256(payload))[:4]).
func base58CheckEncode(payload []byte) string {
	sum := checksum(payload)
	buf := make([]byte, 0, len(payload)+4)
	buf = append(buf, payload...)
	buf = append(buf, sum[:4]...)
	return base58Encode(buf)
}

// base58CheckDecode is bs58check.decode. Like upstream it accepts a payload
// of any length, including none; callers check the length they need.
func base58CheckDecode(s string) ([]byte, error) {
	b, err := base58Decode(s)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, errCheckTooShort
	}
	payload, sum := b[:len(b)-4], b[len(b)-4:]
	want := checksum(payload)
	if sum[0] != want[0] || sum[1] != want[1] || sum[2] != want[2] || sum[3] != want[3] {
		return nil, errChecksum
	}
	return payload, nil
}

// checksum is sha256(sha256(b)).
func checksum(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}
