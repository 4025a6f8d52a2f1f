"""Open data: the study as a BIDS dataset (``python -m experiment export-bids``), and the
analysis read back from one (``python -m experiment analyse --bids``).

::

    BIDS/
      dataset_description.json  README  CHANGES  participants.tsv  participants.json
      task-selfcompassion_events.json   task-selfcompassion_beh.json   (every column and code described)
      sub-<ID>/ses-<N>/
        sub-<ID>_ses-<N>_scans.tsv                                        (when each file began)
        beh/sub-<ID>_ses-<N>_task-selfcompassion[_run-<K>]_events.tsv     (markers and phases)
        beh/sub-<ID>_ses-<N>_task-selfcompassion[_run-<K>]_beh.tsv        (questionnaire answers)
        beh/sub-<ID>_ses-<N>_task-selfcompassion[_run-<K>][_recording-eda]_physio.tsv.gz + .json
      sourcedata/sub-<ID>/ses-<N>[_run-<K>]/   (the session's own record: session.json, csv, log)
      derivatives/selfcompassion-analysis/     (the analysis tables, with their own description)

Every time in the dataset is on one clock: the session's, whose zero is the events' zero. A
recording is put on it through the marker alignment (offset and drift): its ``StartTime`` is
when its first sample was taken, and its ``SamplingFrequency`` the rate the recorder really
ran at by the session's clock (drift corrected), so no sample is moved.

layout     names and paths
tables     events, answers, participants and their JSON descriptions
physio     recordings as headerless .tsv.gz with their sidecars
export     the command: build the dataset beside the old one, then swap
read       the analysis from a BIDS dataset
"""
