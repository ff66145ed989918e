"""Training on a Ray cluster: what the studio's Ray modules and the choice of executor share.

`ClusterUnavailableError` is the one sentence a server (or the CLI) shows when the cluster
it was pointed at cannot be used; this module imports no Ray, so a studio without Ray
installed can still say so. It also sets the Ray driver's settings that must be in place
before Ray is imported: every module of the studio that imports Ray imports this one first.
"""

from __future__ import annotations

import os

# A Ray driver exits when the cluster's head has been away for 60 s; the studio server is
# one, and its pages must outlive the cluster. It waits a week instead, and its runs fail
# with a sentence once their actors stay silent (SILENT_SECONDS).
DRIVER_RECONNECT_SECONDS = 7 * 24 * 3600
os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(DRIVER_RECONNECT_SECONDS))


class ClusterUnavailableError(ConnectionError):
    """The Ray cluster the studio was pointed at cannot be used; `str(err)` is a sentence."""
