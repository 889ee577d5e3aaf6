"""The window's cards: one small widget each, drawn from ``app.session_model.SessionModel``
(``refresh(session)``); the main window lays them out and wires them."""
