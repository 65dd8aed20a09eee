package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/veche-sync/veche/server"
)

// OperatorTokenFile is the name of the file in the data directory that
// holds the operator token.
const OperatorTokenFile = "operator.token"

// EnsureOperatorToken makes sure dataDir/operator.token holds a valid
// operator token. If the file is missing it issues one and writes it there
// (mode 0600, followed by a newline; written to a temporary file and linked
// into place, so it is never overwritten nor left half written) and returns
// created true; the caller should print the path, never the token. If the
// file exists it is left alone, provided its token is still a valid
// operator token; otherwise (the store was replaced or the token revoked)
// EnsureOperatorToken fails and tells the operator to delete the file so
// that the next start issues a new one. dataDir must exist.
func EnsureOperatorToken(ctx context.Context, a *Service, dataDir string) (path string, created bool, err error) {
	path = filepath.Join(dataDir, OperatorTokenFile)
	if _, err := os.Lstat(path); err == nil {
		return path, false, checkOperatorFile(ctx, a, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return path, false, fmt.Errorf("auth: operator token file: %w", err)
	}

	// Write the token to a private temporary file, then link it into place:
	// the link fails if the file appeared meanwhile (like O_EXCL), and a
	// crash never leaves a partial operator.token behind.
	tmp, err := os.CreateTemp(dataDir, ".operator.token-*") // mode 0600
	if err != nil {
		return path, false, fmt.Errorf("auth: create operator token file: %w", err)
	}
	defer os.Remove(tmp.Name())
	secret, err := a.IssueOperatorToken(ctx, OperatorTokenFile)
	if err != nil {
		_ = tmp.Close()
		return path, false, err
	}
	err = writeClose(tmp, secret+"\n")
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		_ = a.Revoke(context.WithoutCancel(ctx), secret)
		if errors.Is(err, fs.ErrExist) {
			return path, false, checkOperatorFile(ctx, a, path)
		}
		// err is about files (*PathError/*LinkError): it names paths, never the token.
		return path, false, fmt.Errorf("auth: write operator token file: %w", err)
	}
	if d, err := os.Open(dataDir); err == nil { // make the new name durable
		_ = d.Sync()
		_ = d.Close()
	}
	return path, true, nil
}

// writeClose writes s to f, syncs and closes it.
func writeClose(f *os.File, s string) error {
	_, err := io.WriteString(f, s)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkOperatorFile checks that the token in the existing file at path
// authenticates as the operator. Its errors never quote the file.
func checkOperatorFile(ctx context.Context, a *Service, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("auth: read operator token file: %w", err)
	}
	p, err := a.Authenticate(ctx, strings.TrimSpace(string(b)))
	if errors.Is(err, ErrUnauthenticated) || err == nil && p.Kind != server.KindOperator {
		return fmt.Errorf("auth: %s holds no valid operator token for this data directory "+
			"(was the store replaced, or the token revoked?); delete the file and start the relay again to issue a new one", path)
	}
	if err != nil {
		return fmt.Errorf("auth: check operator token file: %w", err)
	}
	return nil
}
