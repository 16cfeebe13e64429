package analysis

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProcessorsText(t *testing.T) {
	t.Parallel()
	exp := func(id, model string) Experiment {
		return Experiment{Meta: Meta{ID: id, Env: Env{CPUModel: model, CPUs: 2}}}
	}
	same := []Experiment{exp("exp-1", "AMD EPYC"), exp("exp-2", "AMD EPYC")}
	assert.Equal(t, "AMD EPYC × 2", processorsText(same))
	assert.Empty(t, mixedProcessors(same), "one processor: nothing to warn about")

	mixed := []Experiment{exp("exp-1", "Intel(R) Xeon(R) Processor"), exp("exp-2", "AMD EPYC"), exp("exp-8", "Intel(R) Xeon(R) Processor")}
	assert.Equal(t, "Intel(R) Xeon(R) Processor × 2 (exp-1, exp-8); AMD EPYC × 2 (exp-2)", processorsText(mixed))
	assert.Contains(t, mixedProcessors(mixed), "ran on more than one processor: Intel(R) Xeon(R) Processor × 2 (exp-1, exp-8); AMD EPYC × 2 (exp-2).")
}
