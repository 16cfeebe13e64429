package core

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStopBudgetGrowsWithTheTimeBetweenCalls(t *testing.T) {
	t.Parallel()
	var b StopBudget
	t0 := time.Unix(1000, 0)
	assert.Equal(t, StopBatch, b.Budget(t0), "the first call takes one batch")
	assert.Equal(t, StopBatch, b.Budget(t0), "no time gone by: still one batch, never none")
	assert.Equal(t, 3*StopBatch, b.Budget(t0.Add(3*StopPause)), "a batch for each pause gone by")
	assert.Equal(t, StopCatchUp*StopBatch, b.Budget(t0.Add(time.Hour)), "a long serve catches up at most StopCatchUp batches")
}

func TestStopBudgetDeadline(t *testing.T) {
	t.Parallel()
	var b StopBudget
	t0 := time.Unix(1000, 0)
	assert.True(t, b.Begin(t0))
	assert.False(t, b.Begin(t0.Add(time.Second)), "the deadline starts once")
	assert.False(t, b.Expired(t0.Add(StopFlushTimeout)))
	assert.True(t, b.Expired(t0.Add(StopFlushTimeout+time.Nanosecond)))
}
