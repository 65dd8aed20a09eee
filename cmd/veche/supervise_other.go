//go:build !linux

package main

import (
	"context"
	"syscall"
)

// childAttr: no parent-death signal outside Linux.
func childAttr() *syscall.SysProcAttr { return nil }

// orphans: outside Linux the supervisor adopts no orphans.
type orphans struct{}

func (o *orphans) adopt(context.Context) error { return nil }

func (o *orphans) start(start func() (int, error)) error {
	_, err := start()
	return err
}

func (o *orphans) reap() {}
