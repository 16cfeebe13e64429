package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"c1m/harness"
)

func armNames(arms []harness.Arm) []string {
	var names []string
	for _, a := range arms {
		names = append(names, a.Name)
	}
	return names
}

// Without -uring the arms are those of the committed run, whatever the
// machine holds; -uring adds the uring family at every N.
func TestArms(t *testing.T) {
	t.Parallel()
	full := harness.Scale{Name: "full"}
	assert.Equal(t, []string{"sized.20k", "for1m.20k", "srv1m.20k", "sized.100k", "for1m.100k", "sized.200k", "for1m.200k",
		"srv1m.200k", "sized.500k", "for1m.500k", "sized.1M", "for1m.1M"}, armNames(arms(full, false)))
	var uring []string
	for _, a := range arms(full, true) {
		if strings.HasPrefix(a.Name, "uring.") {
			uring = append(uring, a.Name)
			assert.Contains(t, a.Server, "uring", a.Name)
		}
	}
	assert.Equal(t, []string{"uring.20k", "uring.100k", "uring.200k", "uring.500k", "uring.1M"}, uring)
}
