package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketQuarantine = []byte("quarantine")

// Incident records input that crashed the relay's Automerge core: a change
// (or a whole sync message) a peer sent, or a stored document that crashes
// it when loaded. The relay refuses the input from then on, and suspends
// the principal that sent it until the operator releases the incident.
type Incident struct {
	// ID names the incident: the hash of the first change the message
	// carried, "message:<sha256>" for a message without changes, or
	// "document:<id>" for a stored document.
	ID string `json:"id"`
	// Kind is "change" (a peer sent it) or "document" (loading it crashed).
	Kind string `json:"kind"`
	// Document is the document id the input was for.
	Document string `json:"document"`
	// Principal is the ID of the principal that sent it; "" for a document.
	Principal string `json:"principal,omitempty"`
	// Changes are the hex hashes of the changes the message carried.
	Changes []string `json:"changes,omitempty"`
	// MessageHash is the hex SHA-256 of the whole message.
	MessageHash string `json:"messageHash,omitempty"`
	// Message is the sync message, kept for the crash corpus.
	Message []byte `json:"message,omitempty"`
	// Site is where the core crashed.
	Site string `json:"site"`
	// At is when it happened (UTC).
	At time.Time `json:"at"`
	// Released is when the operator released it; zero while in force.
	Released time.Time `json:"released,omitzero"`
}

// PutIncident durably records an incident, replacing one with the same ID.
func (s *Bolt) PutIncident(ctx context.Context, inc Incident) (err error) {
	defer wrap(&err, "put incident")
	if inc.ID == "" || len(inc.ID) > MaxIDLen {
		return fmt.Errorf("%w: incident id", ErrInvalid)
	}
	raw, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		b, err := tx.CreateBucketIfNotExists(bucketQuarantine)
		if err != nil {
			return err
		}
		return b.Put([]byte(inc.ID), raw)
	})
}

// Incidents returns every recorded incident, oldest first.
func (s *Bolt) Incidents(ctx context.Context) (out []Incident, err error) {
	defer wrap(&err, "incidents")
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQuarantine)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var inc Incident
			if err := json.Unmarshal(v, &inc); err != nil {
				return fmt.Errorf("%w: incident %q: %v", ErrCorrupt, k, err)
			}
			out = append(out, inc)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}
