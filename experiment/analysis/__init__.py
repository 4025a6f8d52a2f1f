"""From sessions and recorder exports to results (``python -m experiment analyse``).

recorders  read recorder files (AcqKnowledge, LabChart and AcqKnowledge text, CSV, BrainVision,
           EDF/EDF+, BDF, XDF): channels on their own clocks, markers, units; inspect, convert
align      recorder marker channel <-> events.csv: offset, drift, residuals, phase times
cardiac    R peaks (NeuroKit2), beat correction, HR, RMSSD, HF power, quality
electrodermal  skin-conductance level and its quality
simulate   realistic recorder exports (and sessions) with known truth
pipeline   every participant, in parallel, one failure never stopping the rest
stats report   group summaries, the model with planned contrasts, figures, HTML
"""
