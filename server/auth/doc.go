// Package auth issues, checks and revokes the relay's credentials: bearer
// tokens (operator, member, peer) and single-use invite codes.
//
// Secrets are "vt_" (tokens) or "vi_" (invite codes) followed by the
// unpadded base64url encoding of 32 random bytes: 256 bits, 46 characters.
// The relay keeps only their SHA-256 (see Hash) in the store; a presented
// secret is hashed and looked up by that hash, and the stored key is compared
// with it in constant time. Nothing in this package logs, and no error it
// returns contains a secret.
//
// A Service keeps credentials in a TokenStore, which this package owns and
// store.Bolt implements; a Custody seals members' custodial keys with a
// secret kept beside the data (custody.go). Neither holds a lock of its
// own: the store serializes its transactions.
package auth
