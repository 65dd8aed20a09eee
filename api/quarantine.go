package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/server/store"
)

// Incident is one quarantine incident as the API shows it.
type Incident struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Document  string     `json:"document"`
	Principal string     `json:"principal,omitempty"`
	Changes   []string   `json:"changes,omitempty"`
	Site      string     `json:"site"`
	At        time.Time  `json:"at"`
	Released  *time.Time `json:"released,omitempty"`
}

// QuarantineAnswer is the answer of GET /api/quarantine.
type QuarantineAnswer struct {
	Incidents []Incident `json:"incidents"`
}

func incidentOf(inc store.Incident) Incident {
	out := Incident{ID: inc.ID, Kind: inc.Kind, Document: inc.Document, Principal: inc.Principal, Changes: inc.Changes, Site: inc.Site, At: inc.At}
	if !inc.Released.IsZero() {
		r := inc.Released
		out.Released = &r
	}
	return out
}

// listQuarantine answers every incident, oldest first.
func (s *Server) listQuarantine(c echo.Context) error {
	ans := QuarantineAnswer{Incidents: []Incident{}}
	for _, inc := range s.relay.Incidents() {
		ans.Incidents = append(ans.Incidents, incidentOf(inc))
	}
	return c.JSON(http.StatusOK, ans)
}

// releaseQuarantine lifts one incident: its principal's tokens work
// again; the change stays refused.
func (s *Server) releaseQuarantine(c echo.Context) error {
	inc, err := s.relay.Release(c.Request().Context(), c.Param("incident"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, incidentOf(inc))
}
