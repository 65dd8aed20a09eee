// Command veche runs a veche relay: an offline-first sync server for
// federated councils that stock automerge-repo clients sync with; and
// runs councils from a terminal against a relay's REST API.
//
//	veche serve [--addr :8080] [--data ./veche-data]
//	veche council <verb> [arguments] [flags]     (veche council --help)
//	veche bundle export|import|show|heads        (veche bundle --help)
//	veche quarantine list|release [incident]     (veche quarantine --help)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/veche-sync/veche/server/sandbox"
)

func main() {
	sandbox.RunIfWorker() // veche serve runs itself again as its sandbox workers
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		if errors.Is(err, errUsage) {
			if err != errUsage {
				fmt.Fprintln(os.Stderr, "veche:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
			}
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "veche:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// exitCode is an error that is only an exit status: the command has
// printed what went wrong already.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

const usage = `veche — offline-first sync relay for federated councils

Usage:
  veche serve [flags]            run the relay
  veche council <verb> [flags]   run a council against a relay: create, show,
                                 join, propose, vote, mandate, recall, offer,
                                 need, pledge, minutes, …
  veche bundle <verb> [flags]    carry a council's changes by hand: export,
                                 import, show, heads
  veche quarantine list|release  changes that crashed the relay's engine, and
                                 the suspended senders (operator)
  veche login [flags]            keep your member token in the config
                                 directory and fetch the council onto this
                                 computer ('veche council ... --offline')
  veche sync [--watch]           sync this computer's replica with the relays

  veche backup --data DIR > F    a consistent copy of the relay's data (hot
                                 while the relay runs), with its checksum
  veche restore F --data DIR     put a backup back
  veche check --data DIR         is the data sound? (after a power cut)
  veche compact --data DIR       give back disk space the data no longer uses
  veche --version                version, commit and Automerge core

Run 'veche serve --help' for the relay's flags, and 'veche council --help'
for a walk through founding a council, passing a proposal and sending a
delegate.
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
		if m.Supervise && !supervised() {
			return supervise(ctx, m, args[1:])
		}
		if err := m.Run(ctx); err != nil {
			return err
		}
		tellSupervisorReady()
		<-ctx.Done()
		return m.Close()
	case "council":
		if code := runCouncil(ctx, args[1:], os.Stdout, os.Stderr, os.Getenv); code != exitOK {
			return exitCode(code)
		}
		return nil
	case "backup":
		return runCommand(ctx, NewBackupCommand(), args[1:])
	case "restore":
		return runCommand(ctx, NewRestoreCommand(), args[1:])
	case "check":
		return runCommand(ctx, NewCheckCommand(), args[1:])
	case "compact":
		return runCommand(ctx, NewCompactCommand(), args[1:])
	case "version", "--version", "-version":
		printVersion(os.Stdout)
		return nil
	case "login":
		if code := runTop(ctx, "login", (*councilCmd).login, args[1:], os.Stdout, os.Stderr, os.Getenv); code != exitOK {
			return exitCode(code)
		}
		return nil
	case "sync":
		if code := runTop(ctx, "sync", (*councilCmd).sync, args[1:], os.Stdout, os.Stderr, os.Getenv); code != exitOK {
			return exitCode(code)
		}
		return nil
	case "bundle":
		if code := runBundle(ctx, args[1:], os.Stdout, os.Stderr, os.Getenv); code != exitOK {
			return exitCode(code)
		}
		return nil
	case "quarantine":
		if code := runQuarantine(ctx, args[1:], os.Stdout, os.Stderr, os.Getenv); code != exitOK {
			return exitCode(code)
		}
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprintf(os.Stderr, "veche: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

// command is a one-shot verb: flags, then one run.
type command interface {
	ParseFlags(args []string) error
	Run(ctx context.Context) error
}

// runCommand parses args and runs c. A wrong command line exits 2, with
// what is wrong on standard error.
func runCommand(ctx context.Context, c command, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "veche:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		}
		return errUsage
	}
	return c.Run(ctx)
}
