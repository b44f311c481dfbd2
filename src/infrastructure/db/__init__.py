"""The database: SQLAlchemy Core tables, the unit of work and one repository per aggregate."""
