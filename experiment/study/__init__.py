"""The trial as a whole: disposition, CONSORT flow, status page, withdrawal and erasure."""
