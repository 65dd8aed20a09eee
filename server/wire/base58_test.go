package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

// Bitcoin Core's base58_encode_decode.json vectors.
var base58Vectors = []struct{ hex, b58 string }{
	{"", ""},
	{"61", "2g"},
	{"626262", "a3gV"},
	{"636363", "aPEr"},
	{"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
	{"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
	{"516b6fcd0f", "ABnLTmg"},
	{"bf4f89001e670274dd", "3SEo3LWLoPntC"},
	{"572e4794", "3EFU7m"},
	{"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
	{"10c8511e", "Rt5zm"},
	{"00000000000000000000", "1111111111"},
}

func TestBase58Vectors(t *testing.T) {
	for _, v := range base58Vectors {
		b, _ := hex.DecodeString(v.hex)
		if got := base58Encode(b); got != v.b58 {
			t.Errorf("base58Encode(%s) = %q, want %q", v.hex, got, v.b58)
		}
		got, err := base58Decode(v.b58)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("base58Decode(%q) = %x, %v; want %s", v.b58, got, err, v.hex)
		}
	}
}

func TestBase58RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			if r.IntN(4) > 0 { // keep some zero bytes, leading ones too
				b[i] = byte(r.Uint32())
			}
		}
		s := base58Encode(b)
		got, err := base58Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip %x → %q → %x, %v", b, s, got, err)
		}
		got, err = base58CheckDecode(base58CheckEncode(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("check round trip %x → %x, %v", b, got, err)
		}
	}
}

func TestBase58DecodeRejects(t *testing.T) {
	for _, s := range []string{"0", "O", "I", "l", "abc+", " 2g", "2g\x00", "é"} {
		var e errBase58Char
		if _, err := base58Decode(s); !errors.As(err, &e) {
			t.Errorf("base58Decode(%q): err = %v", s, err)
		}
	}
	if _, err := base58CheckDecode("2g"); !errors.Is(err, errCheckTooShort) {
		t.Errorf("short input: err = %v", err)
	}
	// Changing the last digit changes only the checksum bytes.
	good := base58CheckEncode([]byte("payload"))
	last := bytes.IndexByte([]byte(base58Alphabet), good[len(good)-1])
	bad := good[:len(good)-1] + string(base58Alphabet[(last+1)%58])
	if _, err := base58CheckDecode(bad); !errors.Is(err, errChecksum) {
		t.Errorf("base58CheckDecode(%q): err = %v, want errChecksum", bad, err)
	}
}
