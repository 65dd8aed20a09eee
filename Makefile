# veche — build and test entry points. `make test` is the one command that
# runs every test on a fresh machine with Go, Node and npm installed.

.PHONY: test deps build run vet bench

## test: install what the tests need, then run every test
test: deps
	go vet ./...
	go test -count=1 -timeout 20m ./...

## deps: Go modules and the npm packages the interop tests drive
deps:
	go mod download
	npm ci --prefix interop/testdata --no-audit --no-fund

## build: the relay binary in ./bin/veche
build:
	go build -o bin/veche ./cmd/veche

## run: the relay on :8080 with its data in ./veche-data
run:
	go run ./cmd/veche serve

## bench: Go benchmarks of the relay engine
bench:
	go test -run '^$$' -bench . -benchtime 20x ./server/
