package uring

import (
	"testing"

	"c1m/core"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// user_data round-trips every field, at their limits.
func TestUserDataRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		op        uint8
		gen       uint32
		bid, slot uint16
	}{{opAccept, 0, 0, 0}, {opRecv, 0xFFFFFF, 0, 19999}, {opSend, 1, heapBid, 65535}, {opCancel, 123456, 4095, 7}, {opWritable, 42, 0, 30000}} {
		op, gen, bid, slot := splitUserData(userData(c.op, c.gen, c.bid, c.slot))
		assert.Equal(t, []any{c.op, c.gen, c.bid, c.slot}, []any{op, gen, bid, slot})
	}
}

// On a host whose RLIMIT_NOFILE is above 65,535 a ring's table could have
// more slots than user data carries (16 bits): the plan caps the table, so
// every slot of it, as a ring numbers them, comes back from user data as
// itself and no two connections of a ring share one.
func TestRingSlotsFitUserData(t *testing.T) {
	t.Parallel()
	for _, nofile := range []uint64{65_535, 65_536, 65_544, 1 << 20} {
		cfg := core.DefaultConfig()
		cfg.Ports, cfg.MaxConns = 20, 1_000_000
		plan, err := core.PlanRings(cfg, nofile)
		require.NoError(t, err)
		table := core.RingTable(plan, cfg.Ports)
		require.LessOrEqual(t, table, core.RingSlots, "nofile %d", nofile)
		require.GreaterOrEqual(t, plan.Tables*plan.PerTable, cfg.MaxConns, "nofile %d: the rings still hold every connection", nofile)
		seen := make([]bool, table)
		for slot := 0; slot < table; slot++ {
			_, _, _, got := splitUserData(userData(opRecv, 7, 0, uint16(slot)))
			require.Equal(t, slot, int(got), "nofile %d: slot %d of a %d-slot table", nofile, slot, table)
			require.False(t, seen[got], "nofile %d: slot %d shared", nofile, got)
			seen[got] = true
		}
	}
}
