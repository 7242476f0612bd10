"""AccidentLink shared kernel: money in fen, clock, ids, masking, report schema, settings, wiring."""
