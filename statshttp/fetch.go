package statshttp

import (
	"encoding/json"
	"fmt"
	"net/http"

	"c1m/core"
)

// Fetch gets the snapshot a server serves at url (its /stats) with c: the
// one reader of /stats for the tools and tests that watch a server.
func Fetch(c *http.Client, url string) (core.Snapshot, error) {
	var snap core.Snapshot
	resp, err := c.Get(url)
	if err != nil {
		return snap, fmt.Errorf("server stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return snap, fmt.Errorf("server stats at %s: decoding: %w", url, err)
	}
	return snap, nil
}
