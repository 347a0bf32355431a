"""The web workspace: server-rendered pages over the API's services, assets served locally."""
