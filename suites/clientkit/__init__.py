"""The client kit: how anything of ours talks to a sidecar from outside (HTTP, SSE, WebSocket,
raw sockets) and starts one as a subprocess. Loadtests, benchmarks, the CLI and the suites
import it; it imports neither pytest machinery nor any server code."""
