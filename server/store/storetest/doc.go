// Package storetest is the conformance suite for implementations of
// store.Store. An implementation's tests call Run with a function that opens
// it; see store's bolt_test.go.
package storetest
