/// The version written into checkpoints and printed by `--version`.
public let toolVersion = "0.1.0"
