package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns a subcommand's flags. Its --help prints synopsis and
// then every flag with its default (printFlags).
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, synopsis)
		if !strings.HasSuffix(synopsis, "\n") {
			fmt.Fprintln(stderr)
		}
		fmt.Fprintln(stderr, "\nflags:")
		printFlags(stderr, fs)
	}
	return fs
}

// printFlags writes every flag of fs with its default, the zero ones too
// (flag.PrintDefaults leaves those out): a flag whose text states its
// default, or that it is required, is printed as it is.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(w, "  --%s%s\n        %s%s\n", f.Name, arg, text, defaultText(f, text))
	})
}

func defaultText(f *flag.Flag, text string) string {
	switch {
	case strings.Contains(text, "(default") || strings.Contains(text, "(required"):
		return ""
	case f.DefValue == "" || f.DefValue == "[]":
		return " (default: none)"
	}
	return " (default: " + f.DefValue + ")"
}
