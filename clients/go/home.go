package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A Home is a member's config directory: their device key, the tokens
// of their memberships, and the replica's store. It is made mode 0700 and
// its files 0600, and refused when others may read it, so secrets never
// need to pass through a command line (or shell history).
//
//	<dir>/key               the device's Ed25519 private key (PKCS #8 PEM;
//	                        elsewhere with UseKeyFile)
//	<dir>/memberships.json  one entry per council and relay: member id, tokens
//	<dir>/replica/          the offline replica's bbolt store
type Home struct {
	dir     string
	keyFile string // the device key's file; "" for <dir>/key
}

// A Membership is one council this home takes part in, through one relay.
type Membership struct {
	Council string `json:"council"` // the council's documentId
	Member  string `json:"member"`  // the member's id in it
	Name    string `json:"name,omitempty"`
	Relay   string `json:"relay"` // the relay's URL
	Token   string `json:"token"` // the member's token at that relay
	// LocalToken is the member's token at this home's replica: it proves
	// nothing anywhere else.
	LocalToken string `json:"localToken,omitempty"`
}

const (
	keyFile         = "key"
	membershipsFile = "memberships.json"
	replicaDir      = "replica"
)

// OpenHome opens the config directory dir, making it (mode 0700) if it
// does not exist. It refuses a directory others may read or write.
func OpenHome(dir string) (*Home, error) {
	if dir == "" {
		return nil, errorf(CodeUsage, "no config directory: set --home or VECHE_HOME")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &Error{Code: CodeInternal, Message: fmt.Sprintf("config directory %s: %v", dir, err), Err: err}
	}
	if err := private(dir); err != nil {
		return nil, err
	}
	return &Home{dir: dir}, nil
}

// Dir returns the directory.
func (h *Home) Dir() string { return h.dir }

// private refuses a path that group or others may access.
func private(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return errorf(CodeUsage, "%s is open to other users (mode %04o): it holds your key and tokens; chmod %s it", path, fi.Mode().Perm(), map[bool]string{true: "700", false: "600"}[fi.IsDir()])
	}
	return nil
}

// path is the file name of the home, or name itself when absolute.
func (h *Home) path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(h.dir, name)
}

// writePrivate writes a file mode 0600, atomically.
func (h *Home) writePrivate(name string, data []byte) error {
	path := h.path(name)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
	}
	if err != nil {
		return &Error{Code: CodeInternal, Message: fmt.Sprintf("writing %s: %v", name, err), Err: err}
	}
	return nil
}

// readPrivate reads a file of the home, refusing one others may read;
// a missing file reads as nil.
func (h *Home) readPrivate(name string) ([]byte, error) {
	path := h.path(name)
	if err := private(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	return b, nil
}

// UseKeyFile makes the home keep its device key in path instead of
// <dir>/key: a key kept apart from the tokens (on removable media, say).
// The file is held to the same rules: made mode 0600, refused if others
// may read it.
func (h *Home) UseKeyFile(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	h.keyFile = path
}

// keyName is the key file's name, relative to the home or absolute.
func (h *Home) keyName() string {
	if h.keyFile != "" {
		return h.keyFile
	}
	return keyFile
}

// Key returns the device's private key, making one on first use.
func (h *Home) Key() (ed25519.PrivateKey, error) {
	raw, err := h.readPrivate(h.keyName())
	if err != nil {
		return nil, err
	}
	if raw != nil {
		block, _ := pem.Decode(raw)
		if block == nil {
			return nil, errorf(CodeInternal, "%s: not a PEM key", h.path(h.keyName()))
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		key, ok := k.(ed25519.PrivateKey)
		if err != nil || !ok {
			return nil, errorf(CodeInternal, "%s: not an Ed25519 private key", h.path(h.keyName()))
		}
		return key, nil
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: "making a key", Err: err}
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: "encoding the key", Err: err}
	}
	if err := h.writePrivate(h.keyName(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return key, nil
}

// Memberships lists the home's memberships, by council then relay.
func (h *Home) Memberships() ([]Membership, error) {
	raw, err := h.readPrivate(membershipsFile)
	if err != nil || raw == nil {
		return nil, err
	}
	var ms []Membership
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, errorf(CodeInternal, "%s: %v", filepath.Join(h.dir, membershipsFile), err)
	}
	return ms, nil
}

// Membership returns the membership of council (through relay, when not
// ""), and whether there is one.
func (h *Home) Membership(council, relay string) (Membership, bool, error) {
	ms, err := h.Memberships()
	if err != nil {
		return Membership{}, false, err
	}
	for _, m := range ms {
		if m.Council == council && (relay == "" || sameRelay(m.Relay, relay)) {
			return m, true, nil
		}
	}
	return Membership{}, false, nil
}

// Save records m, replacing the membership of the same council and relay.
func (h *Home) Save(m Membership) error {
	ms, err := h.Memberships()
	if err != nil {
		return err
	}
	m.Relay = strings.TrimRight(m.Relay, "/")
	replaced := false
	for i := range ms {
		if ms[i].Council == m.Council && sameRelay(ms[i].Relay, m.Relay) {
			ms[i], replaced = m, true
		}
	}
	if !replaced {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Council != ms[j].Council {
			return ms[i].Council < ms[j].Council
		}
		return ms[i].Relay < ms[j].Relay
	})
	raw, err := json.MarshalIndent(ms, "", "  ")
	if err != nil {
		return &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	return h.writePrivate(membershipsFile, append(raw, '\n'))
}

func sameRelay(a, b string) bool { return strings.TrimRight(a, "/") == strings.TrimRight(b, "/") }
