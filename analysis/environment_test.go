package analysis

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProcessorsText(t *testing.T) {
	t.Parallel()
	exp := func(id, model string) namedEnv {
		return namedEnv{ID: id, Env: Env{CPUModel: model, CPUs: 2, Kernel: "6.18." + id}}
	}
	same := []namedEnv{exp("exp-1", "AMD EPYC"), exp("exp-2", "AMD EPYC")}
	assert.Equal(t, "AMD EPYC × 2", processorsText(same))
	assert.Empty(t, mixedProcessors(same), "one processor: nothing to warn about")

	mixed := []namedEnv{exp("exp-1", "Intel(R) Xeon(R) Processor"), exp("exp-2", "AMD EPYC"), exp("exp-8", "Intel(R) Xeon(R) Processor"), {ID: "chaos on epoll"}}
	assert.Equal(t, "Intel(R) Xeon(R) Processor × 2 (exp-1, exp-8); AMD EPYC × 2 (exp-2); not recorded (chaos on epoll)", processorsText(mixed))
	assert.Contains(t, mixedProcessors(mixed), "ran on more than one processor: Intel(R) Xeon(R) Processor × 2 (exp-1, exp-8); AMD EPYC × 2 (exp-2); not recorded (chaos on epoll).")

	// The environment table has a column per processor, naming each.
	tab := machineTable(mixed)
	assert.Equal(t, []string{"", "Intel(R) Xeon(R) Processor × 2", "AMD EPYC × 2", "not recorded"}, tab.Header)
	assert.Equal(t, []string{"kernel", "6.18.exp-1, 6.18.exp-8", "6.18.exp-2", "–"}, tab.Rows[1])
}
