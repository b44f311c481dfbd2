"""The roles the use cases need played (typing.Protocol), named for the role, not the tool."""
