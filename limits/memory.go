package limits

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"c1m/procfs"
	"c1m/spread"
)

// measuredArm is the arm of experiment 1 whose kernel memory the table uses:
// the core server, with epoll and keepalive echoes.
const measuredArm = "core"

// bytesPerConn is the kernel memory one connection (both its sockets) costs:
// experiment 1's measurement when summary holds one, else the slab object
// sizes. source says which was used.
func bytesPerConn(fs procfs.FS, summary string) (bytes float64, source string, err error) {
	measured, err := measuredBytesPerConn(summary)
	if err == nil {
		return measured, fmt.Sprintf("measured by experiment 1 (median of arm %s in %s, both ends)", measuredArm, summary), nil
	}
	why := err.Error()
	var sum int
	var used, missing []string
	for _, cache := range SlabCaches {
		size, err := fs.SlabObjectSize(cache)
		if err != nil {
			missing = append(missing, cache) // merged into another cache, or no /sys/kernel/slab
			continue
		}
		sum += size
		used = append(used, fmt.Sprintf("%s %d", cache, size))
	}
	if sum == 0 {
		return 0, "", fmt.Errorf("no kernel memory per connection: %s, and no slab object sizes in %s (root only on recent kernels): run make exp-1, give -results, or run as root",
			why, filepath.Join(fs.Root, "sys", "kernel", "slab"))
	}
	source = fmt.Sprintf("no measurement (%s); 2 sockets × slab object sizes (%s B), a lower bound without skbs and kmalloc",
		why, strings.Join(used, " + "))
	if len(missing) > 0 {
		source += "; missing: " + strings.Join(missing, ", ")
	}
	return float64(2 * sum), source, nil
}

// measuredBytesPerConn is the median kernel_bytes_per_conn over the rows of
// measuredArm in experiment 1's summary.csv.
func measuredBytesPerConn(path string) (float64, error) {
	if path == "" {
		return 0, errors.New("no -results given")
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return 0, fmt.Errorf("%s: empty", path)
	}
	arm, col := slices.Index(rows[0], "arm"), slices.Index(rows[0], "kernel_bytes_per_conn")
	if arm < 0 || col < 0 {
		return 0, fmt.Errorf("%s: no arm and kernel_bytes_per_conn columns", path)
	}
	var values []float64
	for _, row := range rows[1:] {
		if row[arm] != measuredArm {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(row[col]), 64); err == nil && v > 0 {
			values = append(values, v)
		}
	}
	s, ok := spread.Of(values)
	if !ok {
		return 0, fmt.Errorf("%s: no kernel_bytes_per_conn for arm %s", path, measuredArm)
	}
	return s.Median, nil
}
