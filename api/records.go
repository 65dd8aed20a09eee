package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server"
)

// RecordRequest is the body of POST /api/councils/:id/records: a record
// the member signed with a key of their own device.
type RecordRequest struct {
	// Record is the record line ("veche-fact/1 <payload> <signature>"),
	// or a whole change message holding one.
	Record string `json:"record"`
}

// applyRecord serves POST /api/councils/:id/records: the relay makes the
// operation a client-signed record describes (crdt.ApplyRecord), carrying
// the member's record and signature as they are: the relay's word is not
// involved. The record's key must count for its member at its time; the
// token decides only that the caller may write the council.
func (s *Server) applyRecord(c echo.Context) error {
	var req RecordRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	rec, err := crdt.ParseRecord(req.Record)
	if err != nil {
		return invalid("record: %v", err)
	}
	id, err := councilID(c)
	if err != nil {
		return err
	}
	var answer WriteAnswer
	err = s.relay.Change(c.Request().Context(), id, func(doc *automerge.Doc) error {
		now := time.Now()
		made, err := crdt.ApplyRecord(doc, string(id), rec, now)
		if err != nil {
			return err
		}
		answer = WriteAnswer{Created: Created{ID: made}, By: rec.By, View: s.readView(id, doc, now)}
		return nil
	})
	if errors.Is(err, server.ErrDocumentNotFound) {
		return noCouncil(string(id))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, answer)
}
