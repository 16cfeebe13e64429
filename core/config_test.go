package core

import (
	"testing"
	"time"

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
		{"taskrun", func(c *Config) { c.Engine, c.Uring.Taskrun = EngineUring, "poll" }, `-uring-taskrun "poll": want signal or defer`},
		{"recv", func(c *Config) { c.Engine, c.Uring.Recv = EngineUring, "bundle" }, `-uring-recv "bundle": want multishot or single`},
		{"trigger", func(c *Config) { c.Epoll.Trigger = "both" }, `-trigger "both": want et or lt`},
		{"balance", func(c *Config) { c.Epoll.Balance = "random" }, `-balance "random": want rr or least`},
		{"idle timeout", func(c *Config) { c.Reap.IdleTimeout = -time.Second }, "-idle-timeout -1s: want 0 (off) or a positive duration"},
		{"keepalive", func(c *Config) { c.Reap.KeepAlive = 500 * time.Millisecond }, "-tcp-keepalive 500ms: want 0 (off) or at least 1s (the kernel counts it in seconds)"},
		{"user timeout", func(c *Config) { c.Reap.UserTimeout = time.Microsecond }, "-tcp-user-timeout 1µs: want 0 (off) or at least 1ms"},
		{"uring strategy", func(c *Config) { c.Engine, c.Epoll.Strategy = EngineUring, StrategyPrefork }, "-engine uring holds connections past RLIMIT_NOFILE by itself: drop -strategy prefork"},
	} {
		cfg := DefaultConfig()
		tc.set(&cfg)
		assert.EqualError(t, cfg.Validate(), tc.want, tc.name)
	}

	cfg := DefaultConfig()
	cfg.Engine, cfg.Uring.Taskrun, cfg.Uring.Recv = "", "", ""
	require.NoError(t, cfg.Validate())
	assert.Equal(t, EngineEpoll, cfg.Engine)
	cfg.Engine = EngineUring
	require.NoError(t, cfg.Validate())
	assert.Equal(t, TaskrunSignal, cfg.Uring.Taskrun)
	assert.Equal(t, RecvMultishot, cfg.Uring.Recv)
}
