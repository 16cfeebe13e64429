package core

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A bad choice flag is refused by name with the values it takes; an empty
// one takes its default.
func TestConfigValidateChoices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"engine", func(c *Config) { c.Engine = "kqueue" }, `-engine "kqueue": want epoll or uring`},
		{"taskrun", func(c *Config) { c.Engine, c.UringTaskrun = EngineUring, "poll" }, `-uring-taskrun "poll": want signal or defer`},
		{"recv", func(c *Config) { c.Engine, c.UringRecv = EngineUring, "bundle" }, `-uring-recv "bundle": want multishot or single`},
		{"trigger", func(c *Config) { c.Trigger = "both" }, `-trigger "both": want et or lt`},
		{"balance", func(c *Config) { c.Balance = "random" }, `-balance "random": want rr or least`},
	} {
		cfg := DefaultConfig()
		tc.set(&cfg)
		assert.EqualError(t, cfg.validate(), tc.want, tc.name)
	}

	cfg := DefaultConfig()
	cfg.Engine, cfg.UringTaskrun, cfg.UringRecv = "", "", ""
	require.NoError(t, cfg.validate())
	assert.Equal(t, EngineEpoll, cfg.Engine)
	cfg.Engine = EngineUring
	require.NoError(t, cfg.validate())
	assert.Equal(t, TaskrunSignal, cfg.UringTaskrun)
	assert.Equal(t, RecvMultishot, cfg.UringRecv)
}
