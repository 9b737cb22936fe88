// Writes a trace of Serf's Vivaldi client for claw-node's golden test: fixed distinct
// starting coordinates (so Serf never draws a random direction), a fixed sequence of
// RTT samples, and the coordinates Serf computes. Run with Debian's golang-go and
// golang-github-hashicorp-serf-dev, from the repository root:
//   D=$(mktemp -d); mkdir $D/src; cp -r tests/data/serf_go/vivtrace $D/src/
//   GO111MODULE=off GOPATH=$D:/usr/share/gocode go run vivtrace > tests/data/serf_vivaldi_trace.json
package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

type update struct {
	From, To int
	RTTNanos int64
	After    *coordinate.Coordinate
}

func main() {
	rand.Seed(42)
	config := coordinate.DefaultConfig()
	const nodes, samples = 6, 400
	clients, _ := coordinate.GenerateClients(nodes, config)
	var start []*coordinate.Coordinate
	for _, c := range clients {
		coord := coordinate.NewCoordinate(config)
		for k := range coord.Vec {
			coord.Vec[k] = (rand.Float64() - 0.5) * 0.02
		}
		coord.Error = 0.2 + rand.Float64()
		coord.Height = 1e-5 + rand.Float64()*0.002
		if err := c.SetCoordinate(coord); err != nil {
			panic(err)
		}
		start = append(start, coord)
	}
	var updates []update
	for s := 0; s < samples; s++ {
		i, j := rand.Intn(nodes), rand.Intn(nodes)
		if i == j {
			continue
		}
		// a true RTT per pair plus jitter, so the latency filter has work to do
		rtt := time.Duration((5+3*float64((i+j)%4)+rand.Float64()*2) * float64(time.Millisecond))
		after, err := clients[i].Update(fmt.Sprintf("node_%d", j), clients[j].GetCoordinate(), rtt)
		if err != nil {
			panic(err)
		}
		updates = append(updates, update{i, j, int64(rtt), after})
	}
	distances := make([][]int64, nodes)
	for i := range clients {
		for j := range clients {
			distances[i] = append(distances[i], int64(clients[i].DistanceTo(clients[j].GetCoordinate())))
		}
	}
	out := map[string]interface{}{
		"comment":         "Serf coordinate.Client (Debian golang-github-hashicorp-serf-dev 0.9.4) fed these samples; see tests/test_coordinate_golden.py",
		"start":           start,
		"updates":         updates,
		"distance_nanos":  distances,
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
