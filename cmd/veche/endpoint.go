package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

// endpointFile is the file in the data directory where a running relay
// says how to reach it from the same machine, so that `veche backup
// --data DIR` takes a hot backup through it without being told its
// address or its certificate. The relay writes it once it listens and
// removes it when it stops; it holds no secret (mode 0600 all the same).
const endpointFile = "relay.json"

// localEndpoint is the content of endpointFile.
type localEndpoint struct {
	// URL is the relay's base URL on loopback, e.g. https://127.0.0.1:443.
	URL string `json:"url"`
	// TLSCert is the certificate file the relay serves, if it serves TLS.
	TLSCert string `json:"tlsCert,omitempty"`
}

// writeEndpoint records how to reach a relay listening on addr.
func writeEndpoint(dir string, addr net.Addr, tlsCert string) error {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("listener address %v is not TCP", addr)
	}
	host := tcp.IP
	if host == nil || host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	e := localEndpoint{URL: "http://" + net.JoinHostPort(host.String(), fmt.Sprint(tcp.Port))}
	if tlsCert != "" {
		abs, err := filepath.Abs(tlsCert)
		if err != nil {
			return err
		}
		e.URL = "https" + e.URL[len("http"):]
		e.TLSCert = abs
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+endpointFile+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, endpointFile))
}

// readEndpoint reads what a running relay wrote in dir.
func readEndpoint(dir string) (localEndpoint, error) {
	var e localEndpoint
	b, err := os.ReadFile(filepath.Join(dir, endpointFile))
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil || e.URL == "" {
		return e, fmt.Errorf("%s: not what a relay writes: %v", endpointFile, err)
	}
	return e, nil
}

// client returns an HTTP client for the endpoint. Over TLS it trusts
// exactly the certificate in the relay's own certificate file, whatever
// names it is for: it is the relay on this machine that is asked.
func (e localEndpoint) client() (*http.Client, error) {
	if e.TLSCert == "" {
		return http.DefaultClient, nil
	}
	raw, err := os.ReadFile(e.TLSCert)
	if err != nil {
		return nil, fmt.Errorf("the relay's certificate: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("the relay's certificate %s: no PEM block", e.TLSCert)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the relay's certificate %s: %w", e.TLSCert, err)
	}
	pinned := &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(chain [][]byte, _ [][]*x509.Certificate) error {
			if len(chain) == 0 || !bytes.Equal(chain[0], leaf.Raw) {
				return errors.New("the relay answered with another certificate than the one in its certificate file")
			}
			return nil
		},
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: pinned}}, nil
}
