package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
)

const quarantineUsage = `veche quarantine — what crashed the relay's Automerge engine

Usage:
  veche quarantine list                 every incident: the change (by hash) or
                                        stored document, who sent it, where the
                                        engine crashed, and whether it is in force
  veche quarantine release <incident>   lift an incident: its sender's tokens
                                        work again (the change stays refused)

Flags (after the verb):
  --relay URL      the relay (env VECHE_RELAY; default: where the relay
                   running on --data says it listens, in its relay.json,
                   trusting the certificate it serves; else
                   http://localhost:8080)
  --token TOKEN    the operator token (env VECHE_TOKEN; default: read from
                   --data's operator.token)
  --data DIR       the relay's data directory (env VECHE_DATA; default ./veche-data)
`

// runQuarantine runs `veche quarantine <verb>` and returns the exit status.
func runQuarantine(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, quarantineUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	verb := args[0]
	fs := flag.NewFlagSet("veche quarantine "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	relay := fs.String("relay", getenv("VECHE_RELAY"), "the relay")
	token := fs.String("token", getenv("VECHE_TOKEN"), "the operator token")
	data := fs.String("data", envOr(getenv, "VECHE_DATA", "./veche-data"), "the relay's data directory")
	// Flags may come before or after the incident id.
	var positional []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *token == "" {
		raw, err := os.ReadFile(filepath.Join(*data, "operator.token"))
		if err != nil {
			fmt.Fprintf(stderr, "veche quarantine: no operator token: pass --token, or --data of the relay (%v)\n", err)
			return exitUsage
		}
		*token = strings.TrimSpace(string(raw))
	}
	// Unless told, ask the relay running on --data where it listens (over
	// TLS on 443, say, behind a certificate for its village name), as
	// `veche backup` does.
	var hc *http.Client
	if *relay == "" {
		*relay = defaultRelay
		if e, err := readEndpoint(*data); err == nil {
			*relay = e.URL
			if e.TLSCert != "" {
				if hc, err = e.client(); err != nil {
					fmt.Fprintln(stderr, "veche quarantine:", err)
					return exitFailure
				}
				hc.Timeout = client.DefaultTimeout
			}
		}
	}
	c, err := client.New(*relay, *token, hc)
	if err != nil {
		fmt.Fprintln(stderr, "veche quarantine:", err)
		return exitUsage
	}
	switch verb {
	case "list":
		if len(positional) != 0 {
			fmt.Fprintln(stderr, "veche quarantine list takes no arguments")
			return exitUsage
		}
		ans, err := c.Quarantine(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "veche quarantine:", err)
			return exitFailure
		}
		printIncidents(stdout, ans.Incidents)
		return exitOK
	case "release":
		if len(positional) != 1 {
			fmt.Fprintln(stderr, "usage: veche quarantine release <incident id> (see veche quarantine list)")
			return exitUsage
		}
		inc, err := c.ReleaseIncident(ctx, positional[0])
		if err != nil {
			fmt.Fprintln(stderr, "veche quarantine:", err)
			return exitFailure
		}
		who := inc.Principal
		if who == "" {
			who = "document " + inc.Document
		}
		fmt.Fprintf(stdout, "released %s (%s)\n", inc.ID, who)
		return exitOK
	default:
		fmt.Fprintf(stderr, "veche quarantine: unknown verb %q\n\n%s", verb, quarantineUsage)
		return exitUsage
	}
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func printIncidents(w io.Writer, incs []api.Incident) {
	if len(incs) == 0 {
		fmt.Fprintln(w, "no incidents")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INCIDENT\tKIND\tDOCUMENT\tPRINCIPAL\tSITE\tAT\tSTATE")
	for _, inc := range incs {
		state := "in force"
		if inc.Released != nil {
			state = "released " + inc.Released.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", inc.ID, inc.Kind, inc.Document, inc.Principal, inc.Site, inc.At.Format(time.RFC3339), state)
	}
	tw.Flush()
}
