// Package server starts the c1m echo server on the engine its
// configuration names: it validates the configuration once, then runs the
// epoll engine (core/epoll) or the io_uring engine (core/uring), and falls
// back to epoll, saying why in the snapshot's engine_note, where the kernel
// refuses io_uring. cmd/c1m-server is a thin main around it.
package server

import (
	"fmt"

	"c1m/core"
	"c1m/core/epoll"
	"c1m/core/uring"
)

// Launch validates cfg and starts the server it describes.
func Launch(cfg core.Config) (core.Engine, error) {
	return launch(cfg, uring.Supported)
}

// launch is Launch with the io_uring support check as a parameter, so a
// test can play a kernel that refuses it.
func launch(cfg core.Config, uringSupported func() error) (core.Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Engine == core.EngineUring {
		err := uringSupported()
		if err == nil {
			return uring.Start(cfg)
		}
		cfg.Engine = core.EngineEpoll
		return epoll.Launch(cfg, fmt.Sprintf("-engine uring unavailable, running epoll: %v", err))
	}
	return epoll.Launch(cfg, "")
}

// RunChildIfAsked runs this process as a server child (prefork) when its
// parent asked for one, and exits; otherwise it returns at once. Call it
// first in main, and in TestMain of packages that start prefork servers.
func RunChildIfAsked() { epoll.RunPreforkChildIfAsked() }
