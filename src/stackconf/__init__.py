"""What every runtime and tool of the stack reads: settings (environment variables with one
default each), the secrets file and its names, the realms to apply, the banner `make up`
prints. Imports nothing else of ours, so that everything may import it."""
