// This go.mod makes js/ a separate Go module so that `go test ./...` and
// `go vet ./...` from the repository root never descend into js/node_modules
// (some npm packages ship .go files). There is no Go code here.
module github.com/veche-sync/veche/js
