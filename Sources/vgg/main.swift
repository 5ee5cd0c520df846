// vgg: answers from VGG models without writing code.
import ArgumentParser
import VGGFormat

struct VGGCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vgg",
        abstract: "Run VGG models stored in .vgg files (see vgg-convert).",
        discussion: "Exit status: 0 on success, 1 when a model or input could not be used, 64 on a usage error.",
        version: toolVersionText,
        subcommands: [InfoCommand.self, ClassifyCommand.self, FeaturesCommand.self, HeatmapCommand.self, BenchCommand.self]
    )
}

VGGCommand.main()
