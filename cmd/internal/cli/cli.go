// Package cli is what the commands' mains share about their command line:
// one way to say what a command is for above its flags.
package cli

import (
	"flag"
	"fmt"
)

// FlagSet is a flag set for command name that exits on a bad flag and
// whose -h prints "Usage: name [flags]", then about (what the command
// does, in a sentence or two), then the flags.
func FlagSet(name, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\n%s\n\nFlags:\n", name, about)
		fs.PrintDefaults()
	}
	return fs
}
