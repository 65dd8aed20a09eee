package api

import (
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/veche-sync/veche/crdt"
)

// openAPISpec is the part of the OpenAPI document the tests read.
type openAPISpec struct {
	OpenAPI    string                                 `json:"openapi"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `json:"properties"`
			Required   []string       `json:"required"`
		} `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
}

func loadOpenAPI(t *testing.T) openAPISpec {
	t.Helper()
	var spec openAPISpec
	if err := json.Unmarshal(openAPIDocument, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if spec.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", spec.OpenAPI)
	}
	return spec
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPIMatchesRoutes checks the OpenAPI document against the routes
// echo really registers: every route is documented with its method and
// path parameters, and every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	spec := loadOpenAPI(t)
	s := New(nil, Options{})

	registered := map[string]bool{}
	for _, r := range s.echo.Routes() {
		path := echoParam.ReplaceAllString(r.Path, "{$1}")
		key := strings.ToLower(r.Method) + " " + path
		registered[key] = true
		ops, ok := spec.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not in openapi.json", r.Method, r.Path)
			continue
		}
		op, ok := ops[strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("route %s %s: openapi.json has the path, not the method", r.Method, r.Path)
			continue
		}
		var want, got []string
		for _, m := range echoParam.FindAllStringSubmatch(r.Path, -1) {
			want = append(want, m[1])
		}
		for _, p := range op.Parameters {
			if p.In == "path" {
				got = append(got, p.Name)
			}
		}
		if !slices.Equal(want, got) {
			t.Errorf("%s %s: path parameters %v documented, %v registered", r.Method, r.Path, got, want)
		}
	}
	ids := map[string]bool{}
	for path, ops := range spec.Paths {
		for method, op := range ops {
			if !registered[method+" "+path] {
				t.Errorf("openapi.json documents %s %s, which echo does not route", strings.ToUpper(method), path)
			}
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s %s: missing or duplicate operationId %q", method, path, op.OperationID)
			}
			ids[op.OperationID] = true
		}
	}
	if len(registered) < 25 {
		t.Fatalf("only %d routes registered", len(registered))
	}
}

// TestOpenAPISchemasMatchTypes checks that every schema lists exactly the
// JSON fields of the Go type that is decoded from or encoded to it, so a
// field added to a request or to the view shows up here until it is
// documented.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	spec := loadOpenAPI(t)
	types := map[string]reflect.Type{
		"Rule":                 reflect.TypeFor[crdt.Rule](),
		"Council":              reflect.TypeFor[crdt.Council](),
		"SentBy":               reflect.TypeFor[crdt.SentBy](),
		"Member":               reflect.TypeFor[crdt.Member](),
		"KeyInfo":              reflect.TypeFor[crdt.KeyInfo](),
		"Vote":                 reflect.TypeFor[crdt.Vote](),
		"Tally":                reflect.TypeFor[crdt.Tally](),
		"Proposal":             reflect.TypeFor[crdt.Proposal](),
		"Report":               reflect.TypeFor[crdt.Report](),
		"Mandate":              reflect.TypeFor[crdt.Mandate](),
		"Offer":                reflect.TypeFor[crdt.Offer](),
		"Need":                 reflect.TypeFor[crdt.Need](),
		"Pledge":               reflect.TypeFor[crdt.Pledge](),
		"Exchange":             reflect.TypeFor[crdt.Exchange](),
		"FederationLink":       reflect.TypeFor[crdt.FederationLink](),
		"Federation":           reflect.TypeFor[crdt.Federation](),
		"Minutes":              reflect.TypeFor[crdt.Minutes](),
		"Problem":              reflect.TypeFor[crdt.Problem](),
		"CouncilView":          reflect.TypeFor[CouncilView](),
		"WriteAnswer":          reflect.TypeFor[WriteAnswer](),
		"CreateCouncilAnswer":  reflect.TypeFor[CreateCouncilAnswer](),
		"HistoryEntry":         reflect.TypeFor[HistoryEntry](),
		"HistoryAnswer":        reflect.TypeFor[HistoryAnswer](),
		"MemberRequest":        reflect.TypeFor[MemberRequest](),
		"CreateCouncilRequest": reflect.TypeFor[CreateCouncilRequest](),
		"MandateRequest":       reflect.TypeFor[MandateRequest](),
		"ProposalRequest":      reflect.TypeFor[ProposalRequest](),
		"VoteRequest":          reflect.TypeFor[VoteRequest](),
		"EditProposalRequest":  reflect.TypeFor[EditProposalRequest](),
		"InviteRequest":        reflect.TypeFor[InviteRequest](),
		"InviteAnswer":         reflect.TypeFor[InviteAnswer](),
		"AcceptInviteRequest":  reflect.TypeFor[AcceptInviteRequest](),
		"AcceptInviteAnswer":   reflect.TypeFor[AcceptInviteAnswer](),
		"EmptyRequest":         reflect.TypeFor[struct{}](),
		"ReportRequest":        reflect.TypeFor[ReportRequest](),
		"ProduceRequest":       reflect.TypeFor[ProduceRequest](),
		"PledgeRequest":        reflect.TypeFor[PledgeRequest](),
		"FederationRequest":    reflect.TypeFor[FederationRequest](),
		"MemberCouncilRequest": reflect.TypeFor[MemberCouncilRequest](),
		"MinutesRequest":       reflect.TypeFor[MinutesRequest](),
		"RecordRequest":        reflect.TypeFor[RecordRequest](),
		"KeyRequest":           reflect.TypeFor[KeyRequest](),
		"EditMinutesRequest":   reflect.TypeFor[EditMinutesRequest](),
		"BundleAnswer":         reflect.TypeFor[BundleAnswer](),
		"Incident":             reflect.TypeFor[Incident](),
		"QuarantineAnswer":     reflect.TypeFor[QuarantineAnswer](),
		"TokenAnswer":          reflect.TypeFor[TokenAnswer](),
	}
	notTypes := map[string]bool{"Error": true, "ExplicitID": true}
	for name, schema := range spec.Components.Schemas {
		typ, ok := types[name]
		if !ok {
			if !notTypes[name] {
				t.Errorf("schema %s has no Go type in this test", name)
			}
			continue
		}
		want := jsonFields(typ)
		got := slices.Sorted(maps.Keys(schema.Properties))
		if !slices.Equal(want, got) {
			t.Errorf("schema %s has properties %v; Go type %v has JSON fields %v", name, got, typ, want)
		}
		for _, r := range schema.Required {
			if !slices.Contains(want, r) {
				t.Errorf("schema %s requires %q, which it does not have", name, r)
			}
		}
	}
	for name := range types {
		if _, ok := spec.Components.Schemas[name]; !ok {
			t.Errorf("no schema %s in openapi.json", name)
		}
	}
}

// TestOpenAPIRefsResolve checks that every $ref points at a component.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var target any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := target.(map[string]any)
					target = m[part]
				}
				if target == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

// jsonFields lists the JSON object keys encoding/json uses for t, sorted.
// A field of an embedded struct is hidden by a field of the same name at
// a shallower depth (CouncilView's id hides View's), as encoding/json
// does.
func jsonFields(t reflect.Type) []string {
	depth := map[string]int{}
	var walk func(t reflect.Type, d int)
	walk = func(t reflect.Type, d int) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				walk(f.Type, d+1)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if old, ok := depth[name]; !ok || d < old {
				depth[name] = d
			}
		}
	}
	walk(t, 0)
	return slices.Sorted(maps.Keys(depth))
}
