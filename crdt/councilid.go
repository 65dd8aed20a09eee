package crdt

import (
	"crypto/sha256"
	"math/big"
)

// councilIDDomain separates the hash that names a council from every other
// use of SHA-256 over a record.
const councilIDDomain = "veche-council/1\n"

// CouncilID returns the id of the council founded by the founding record
// whose payload (the exact bytes signed) is payload: the automerge-repo
// documentId — bs58check of 16 bytes — whose bytes are the first 16 bytes
// of SHA-256("veche-council/1\n" ‖ payload). Every replica checks it: the
// document a council lives in must have this id, so no later write can
// replace the founding record (see the package documentation, "Founding").
func CouncilID(payload []byte) string {
	sum := sha256.Sum256(append([]byte(councilIDDomain), payload...))
	return base58Check(sum[:16])
}

// base58Alphabet is bitcoin's, as bs58check (automerge-repo) uses.
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Check encodes b as bs58check does: b followed by the first four
// bytes of SHA-256(SHA-256(b)), in base58 with a '1' per leading zero byte.
func base58Check(b []byte) string {
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	full := append(append([]byte{}, b...), h2[:4]...)
	n := new(big.Int).SetBytes(full)
	radix, mod := big.NewInt(58), new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, base58Alphabet[mod.Int64()])
	}
	for _, c := range full {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}
