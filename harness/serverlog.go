package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"c1m/schema"
)

// runFile is where one run (an arm's repeat) keeps one of its files:
// DIR/KIND-ARM-rREP.EXT, e.g. samples-core-r1.csv.
func runFile(dir, kind, arm string, rep int, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s-r%d.%s", kind, arm, rep, ext))
}

// serverProblem matches a server log line that says something went wrong.
var serverProblem = regexp.MustCompile(`(?i)error|exited|killed|fail|panic|out of memory|cannot|too many`)

// lastServerProblem is the last line of a server log that reports a
// problem ("" when none, or no log). JSON lines are the server's stats,
// not complaints, and are skipped.
func lastServerProblem(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") && serverProblem.MatchString(line) {
			last = line
		}
	}
	return last
}

// noteServerProblem records the last problem the server log of one run
// reported, if it reported any: the analysis quotes it when the arm fell
// short, and reads it here rather than in the log.
func (m *meta) noteServerProblem(dir, arm string, rep int) {
	if line := lastServerProblem(runFile(dir, "server", arm, rep, "log")); line != "" {
		m.ServerProblems = append(m.ServerProblems, schema.ServerProblem{Arm: arm, Rep: rep, Line: line})
	}
}
