"""BUSINESS LOGIC: teams, accounts, contacts, chats, messages and their rules.

Use-case functions take a :class:`~chatsvc.chat.context.ChatContext` first. They call
store/ for data and deliver events through the narrow ``Publisher`` interface; they never
touch a socket and never build an engine query.
"""
