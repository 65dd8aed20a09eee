// Command veche runs a veche relay: an offline-first sync server for
// federated councils that stock automerge-repo clients sync with.
//
//	veche serve [--addr :8080] [--data ./veche-data]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "veche:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `veche — offline-first sync relay for federated councils

Usage:
  veche serve [flags]   run the relay

Run 'veche serve --help' for the flags.
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		m := NewMain()
		if err := m.ParseFlags(args[1:]); err != nil {
			return err
		}
		if err := m.Run(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return m.Close()
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprintf(os.Stderr, "veche: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}
