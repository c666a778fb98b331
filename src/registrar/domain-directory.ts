import type { DomainRepository } from '../store/types.js';

/**
 * Maps the host of a Request-URI to the domain that owns it. Every host that is not a configured
 * domain belongs to the default domain, so phones may register to the server's IP or any name.
 */
export class DomainDirectory {
  private names = new Set<string>();
  private defaultName = '';

  constructor(private readonly repo: DomainRepository) {
    this.reload();
  }

  reload(): void {
    const domains = this.repo.list();
    this.names = new Set(domains.map((d) => d.name));
    this.defaultName = domains.find((d) => d.isDefault)?.name ?? domains[0]?.name ?? '';
  }

  get defaultDomain(): string {
    return this.defaultName;
  }

  resolve(host: string | undefined): string {
    if (!host) return this.defaultName;
    const h = host.toLowerCase();
    return this.names.has(h) ? h : this.defaultName;
  }
}
