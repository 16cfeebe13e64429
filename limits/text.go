package limits

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText prints the table (aligned), the notes and the summary.
func (r Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Limits on concurrent connections, for a target of %s (client and server on this machine):\n\n", group(int64(r.Target)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tVALUE\tALLOWS\tBINDS\tLIFT")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Name, row.Value, allowsText(row), bindsText(row), row.Lift)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nNotes:")
	for _, row := range r.Rows {
		if row.Note != "" {
			fmt.Fprintf(w, "  %s: %s.\n", row.Name, row.Note)
		}
	}
	fmt.Fprintln(w)
	for _, line := range r.Summary {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

func allowsText(row Row) string {
	switch row.Kind {
	case KindRamp:
		return "- (rate only)"
	case KindUnknown:
		return "unknown"
	case KindProcess:
		return group(row.Allows) + " per process"
	case KindData:
		return group(row.Allows) + " with data"
	case KindTeardown:
		if row.Allows < 0 {
			return "- (packets per CPU)"
		}
		return group(row.Allows) + " closing"
	}
	return group(row.Allows)
}

func bindsText(row Row) string {
	switch {
	case !row.Binds:
		return "no"
	case row.Kind == KindCount:
		return "yes"
	}
	return "yes (" + row.Kind + ")"
}
