import ConsoleService

await ConsoleCommand.runMain()
