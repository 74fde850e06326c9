import ArgumentParser
import Diffusion
import Distillation
import Training

/// Command-line flags laid over a config: a table of (flag, config key path) pairs per command,
/// applied by one mechanism, so a flag given on the command line wins over the config file and
/// the default, and a flag not given changes nothing.
struct ConfigOverlay<Options, Config>: @unchecked Sendable {
    private let apply: (Options, inout Config) -> Void

    /// An optional flag that sets `key` when given.
    init<V>(_ flag: KeyPath<Options, V?>, _ key: WritableKeyPath<Config, V>) {
        apply = { options, config in if let v = options[keyPath: flag] { config[keyPath: key] = v } }
    }

    /// A switch that sets `key` to `value` when given.
    init<V>(_ flag: KeyPath<Options, Bool>, _ key: WritableKeyPath<Config, V>, to value: V) {
        apply = { options, config in if options[keyPath: flag] { config[keyPath: key] = value } }
    }

    /// Lay every entry of `table` over `config`.
    static func apply(_ table: [ConfigOverlay], from options: Options, to config: inout Config) {
        for entry in table { entry.apply(options, &config) }
    }
}

// Every choice is an enum that the command line parses by its raw value.
extension DistillMethod: ExpressibleByArgument {}
extension GradientExchangeMode: ExpressibleByArgument {}
extension MStepWeighting: ExpressibleByArgument {}
extension NoiseUnits: ExpressibleByArgument {}
extension StudentNoise: ExpressibleByArgument {}
extension NetworkKind: ExpressibleByArgument {}
extension Sampler: ExpressibleByArgument {}
